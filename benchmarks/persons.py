"""Persons: how a user's faces form its match vector, and grouping accuracy beside Immich's and
PhotoPrism's algorithms, on the same descriptors.

    python persons.py ../../shared/eval/deepface [--copies 10]

Faces: deepface's 61 identity-labelled photos (13 people) and ``--copies`` augmented copies of
each (persons_data.py), facelake's descriptors.

1. Match vector: each photo in turn is held out; every person is a user made of the originals
   of their other photos (at most 5), once clean and once with one stranger's face among them.
   The held-out photo's faces are scored against each user by the mean of the user's
   descriptors ("mean") and by the nearest of its faces ("nearest"); reported: the share of true
   matches and of stranger matches at the default UserMatchThreshold (80).
2. Grouping: pairwise precision and recall, BCubed F, and groups holding more than one identity,
   for facelake's grouping (models/grouping.py) at its defaults, Immich's algorithm (a face with
   at least minFaces neighbours within maxDistance, cosine, is a core face; cores join the person
   of their nearest assigned neighbour or start one; the rest join their nearest assigned
   neighbour within maxDistance afterwards) at its defaults (maxDistance 0.5, minFaces 3), and
   PhotoPrism's (DBSCAN, euclidean, eps 0.64, minPts 4), each also at its best setting on this
   data (a sweep; facelake's sweep too). Unassigned faces count as groups of one.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from common import machine
from persons_data import labelled_faces

from facelake.models.grouping import GroupSettings, cluster, knn_graph
from facelake.schemas.rekognition import distance_for_similarity


def scores(labels: np.ndarray, truth: np.ndarray) -> dict:
    """Pairwise precision/recall, BCubed F and the number of groups mixing identities."""
    n = len(labels)
    groups = np.where(labels >= 0, labels, -1 - np.arange(n))  # unassigned: a group of one each
    same_group = groups[:, None] == groups[None, :]
    same_id = truth[:, None] == truth[None, :]
    off = ~np.eye(n, dtype=bool)
    tp = (same_group & same_id & off).sum()
    pp = (same_group & off).sum()
    ap = (same_id & off).sum()
    both = (same_group & same_id).sum(1)
    bp, br = (both / same_group.sum(1)).mean(), (both / same_id.sum(1)).mean()
    mixed = sum(1 for g in np.unique(labels[labels >= 0]) if len(set(truth[labels == g])) > 1)
    return {"precision": tp / pp if pp else 1.0, "recall": tp / ap, "bcubed_f": 2 * bp * br / (bp + br),
            "mixed": mixed, "groups": len(np.unique(labels[labels >= 0])), "unassigned": int((labels < 0).sum())}


def ours(x: np.ndarray, settings: GroupSettings) -> np.ndarray:
    idx, dist = knn_graph(x, settings.neighbours, settings.cell_size, settings.probe)
    return cluster(x, idx, dist, settings)


def immich(x: np.ndarray, max_distance: float = 0.5, min_faces: int = 3) -> np.ndarray:
    """Immich's facial-recognition job (server/src/services/person.service.ts), on cosine distance."""
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = 1 - u @ u.T
    np.fill_diagonal(d, np.inf)
    labels = np.full(len(x), -1)
    deferred, next_label = [], 0
    for i in range(len(x)):
        near = np.flatnonzero(d[i] <= max_distance)
        if len(near) + 1 < min_faces:  # Immich counts the face itself among its matches
            deferred.append(i)
            continue
        assigned = near[labels[near] >= 0]
        if labels[i] < 0:
            if len(assigned):
                labels[i] = labels[assigned[np.argmin(d[i, assigned])]]
            else:
                labels[i], next_label = next_label, next_label + 1
    for i in deferred:
        near = np.flatnonzero((d[i] <= max_distance) & (labels >= 0))
        if len(near):
            labels[i] = labels[near[np.argmin(d[i, near])]]
    return labels


def dbscan(x: np.ndarray, eps: float = 0.64, min_pts: int = 4) -> np.ndarray:
    """PhotoPrism's clustering: DBSCAN (euclidean), minPts counting the point itself."""
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    near = [np.flatnonzero(row <= eps) for row in d]
    core = np.array([len(n) >= min_pts for n in near])
    labels, next_label = np.full(len(x), -1), 0
    for i in np.flatnonzero(core):
        if labels[i] >= 0:
            continue
        labels[i], stack = next_label, [i]
        while stack:
            j = stack.pop()
            for m in near[j]:
                if labels[m] < 0:
                    labels[m] = next_label
                    if core[m]:
                        stack.append(m)
        next_label += 1
    return labels


def match_vectors(x, truth, names) -> list[str]:
    photo = np.array([n.split("#")[0] for n in names])
    original = np.array([n.endswith(":original") for n in names])
    limit = distance_for_similarity(80.0)
    rng = np.random.default_rng(0)
    lines = ["| user's faces | rule | true matches | stranger matches |", "|---|---|---|---|"]
    for dirty in (False, True):
        counts = {rule: [0, 0, 0, 0] for rule in ("mean", "nearest")}  # tp, genuine, fp, impostor
        for held in np.unique(photo):
            q, who = x[photo == held], truth[photo == held][0]
            for person in np.unique(truth):
                faces = x[(truth == person) & (photo != held) & original][:5]
                if not len(faces):
                    continue
                if dirty:
                    others = x[(truth != person) & original & (photo != held)]
                    faces = np.vstack([faces, others[rng.integers(len(others))]])
                d_mean = np.linalg.norm(q - faces.mean(0), axis=1)
                d_near = np.linalg.norm(q[:, None] - faces[None], axis=2).min(1)
                for rule, d in (("mean", d_mean), ("nearest", d_near)):
                    c = counts[rule]
                    if person == who:
                        c[0] += int((d <= limit).sum()); c[1] += len(d)
                    else:
                        c[2] += int((d <= limit).sum()); c[3] += len(d)
        for rule, (tp, gen, fp, imp) in counts.items():
            lines.append(f"| {'5 of theirs + 1 stranger' if dirty else 'up to 5 of theirs'} | {rule} | "
                         f"{tp / gen:.4f} | {fp / imp:.4f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("deepface", type=Path)
    ap.add_argument("--copies", type=int, default=10)
    args = ap.parse_args()
    x, labels, names = labelled_faces(args.deepface, args.copies)
    truth = np.array(labels)
    print(f"# persons on {len(x)} faces of {len(set(labels))} people ({args.copies} augmented copies per photo; "
          f"{machine()})\n")
    print("## a user's match vector, at UserMatchThreshold 80\n")
    print("\n".join(match_vectors(x, truth, names)))
    print("\n## grouping\n")
    print("| algorithm | setting | pairwise precision | pairwise recall | BCubed F | groups mixing people | "
          "groups | unassigned |")
    print("|---|---|---|---|---|---|---|---|")

    def row(name, setting, lab):
        s = scores(lab, truth)
        print(f"| {name} | {setting} | {s['precision']:.4f} | {s['recall']:.4f} | {s['bcubed_f']:.4f} | "
              f"{s['mixed']} | {s['groups']} | {s['unassigned']} |")

    row("facelake", "defaults", ours(x, GroupSettings()))
    row("Immich", "defaults (maxDistance 0.5, minFaces 3)", immich(x))
    row("PhotoPrism", "defaults (eps 0.64, minPts 4)", dbscan(x))
    sweeps = {  # (setting, labels) for each setting tried
        "facelake": [(f"merge_distance {m}", ours(x, GroupSettings(merge_distance=m)))
                     for m in (0.36, 0.38, 0.40, 0.42, 0.44, 0.46, 0.48, 0.50)],
        "Immich": [(f"maxDistance {md:.2f}, minFaces {mf}", immich(x, md, mf))
                   for md in np.arange(0.02, 0.5, 0.01) for mf in (1, 2, 3)],
        "PhotoPrism": [(f"eps {eps:.2f}, minPts {mp}", dbscan(x, eps, mp))
                       for eps in np.arange(0.30, 0.66, 0.02) for mp in (2, 3, 4)],
    }
    for name, tried in sweeps.items():  # the best F; ties go to the greatest setting text
        setting, lab = max(tried, key=lambda t: (scores(t[1], truth)["bcubed_f"], t[0]))
        row(name, f"best: {setting}", lab)
    sizes = Counter(truth.tolist())
    print(f"\nfaces per person: {sorted(sizes.values())}")


if __name__ == "__main__":
    main()
