"""Search a collection of deepface's 61 labelled photos: is the same person found first?

    python benchmarks/collection_search.py ../../shared/eval/deepface

Each photo is indexed with its file name as ExternalImageId. Then each photo's largest face
is searched by its FaceId (search_faces leaves the face itself out); the top match counts as
right when its photo shows the same identity (identities.csv).
Also checks that re-indexing adds nothing and that list_faces pages through every face.
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

from common import machine

import facelake


def main() -> None:
    folder = Path(sys.argv[1])
    ids = {r["file"]: r["identity"] for r in csv.DictReader(open(folder / "identities.csv"))}
    with tempfile.TemporaryDirectory() as store:
        client = facelake.client(store=store)
        client.create_collection(CollectionId="deepface")
        largest = {}
        start = time.perf_counter()
        for name in sorted(ids):
            resp = client.index_faces(CollectionId="deepface", Image={"Bytes": (folder / name).read_bytes()},
                                      ExternalImageId=name, QualityFilter="NONE")
            if resp["FaceRecords"]:
                largest[name] = resp["FaceRecords"][0]["Face"]["FaceId"]
        index_s = time.perf_counter() - start
        count = client.describe_collection(CollectionId="deepface")["FaceCount"]
        for name in sorted(ids):
            client.index_faces(CollectionId="deepface", Image={"Bytes": (folder / name).read_bytes()},
                               ExternalImageId=name, QualityFilter="NONE")
        recount = client.describe_collection(CollectionId="deepface")["FaceCount"]
        right, latencies = 0, []
        for name, face_id in largest.items():
            t = time.perf_counter()
            resp = client.search_faces(CollectionId="deepface", FaceId=face_id, MaxFaces=1, FaceMatchThreshold=0)
            latencies.append(time.perf_counter() - t)
            top = resp["FaceMatches"][0]["Face"]["ExternalImageId"] if resp["FaceMatches"] else None
            right += top is not None and ids[top] == ids[name]
        listed, token = 0, None
        while True:
            page = client.list_faces(CollectionId="deepface", MaxResults=10, **({"NextToken": token} if token else {}))
            listed += len(page["Faces"])
            token = page.get("NextToken")
            if not token:
                break
    print(f"# collection search on {folder} ({machine()})")
    print(f"indexed {len(largest)} photos, {count} faces in {index_s:.1f} s; re-indexing: {recount - count} added; "
          f"list_faces paged {listed} faces")
    print(f"same person first (the face itself left out): {right}/{len(largest)} = {right / len(largest):.3f}; "
          f"search_faces median {1000 * sorted(latencies)[len(latencies) // 2]:.1f} ms")


if __name__ == "__main__":
    main()
