"""The boto3-style client and analyze_faces: shapes against botocore, behaviour on real faces."""

import io

import botocore.session
from botocore.exceptions import ClientError
import numpy as np
import pytest
from PIL import Image

import facelake
from facelake.schemas.botocore_model import validate_response
from facelake.schemas.rekognition import LANDMARK_TYPES, distance_for_similarity, similarity
from conftest import SAMPLES, encode


def mirror(data: bytes) -> bytes:
    return encode(Image.open(io.BytesIO(data)).transpose(Image.Transpose.FLIP_LEFT_RIGHT), "JPEG", quality=95)


def test_detect_faces_shape_and_content(client, astronaut_bytes):
    resp = client.detect_faces(Image={"Bytes": astronaut_bytes}, Attributes=["DEFAULT"])
    validate_response("DetectFaces", resp)
    assert "OrientationCorrection" not in resp  # no EXIF orientation in this file
    (face,) = resp["FaceDetails"]
    assert [lm["Type"] for lm in face["Landmarks"]] == list(LANDMARK_TYPES)
    bb = face["BoundingBox"]
    # the face sits in the upper middle of the photo
    assert 0.3 < bb["Left"] < 0.4 and 0.05 < bb["Top"] < 0.2 and 0.15 < bb["Width"] < 0.25
    lm = {l["Type"]: (l["X"], l["Y"]) for l in face["Landmarks"]}
    assert lm["eyeLeft"][0] < lm["nose"][0] < lm["eyeRight"][0]  # Left is the image's left
    assert lm["eyeLeft"][1] < lm["nose"][1] < lm["mouthUp"][1] < lm["mouthDown"][1] < lm["chinBottom"][1]
    for x, y in lm.values():
        assert bb["Left"] - 0.02 < x < bb["Left"] + bb["Width"] + 0.02
    assert all(abs(face["Pose"][k]) < 15 for k in ("Yaw", "Pitch", "Roll"))  # a frontal portrait
    assert face["Confidence"] > 99
    assert 30 < face["Quality"]["Brightness"] < 90 and face["Quality"]["Sharpness"] > 20


def test_mirroring_flips_yaw_and_roll_and_keeps_pitch(client, insightface_images):
    """On the group photo's turned and tilted faces, a mirrored copy reads the opposite yaw and roll."""
    data = insightface_images["t1.jpg"]
    a = client.detect_faces(Image={"Bytes": data})["FaceDetails"]
    b = client.detect_faces(Image={"Bytes": mirror(data)})["FaceDetails"]
    key = lambda f: round(f["BoundingBox"]["Left"] + f["BoundingBox"]["Width"] / 2, 2)
    a, b = sorted(a, key=key), sorted(b, key=key, reverse=True)  # pair faces across the mirror
    assert len(a) == len(b) == 6
    turned = 0
    for fa, fb in zip(a, b):
        for k in ("Yaw", "Roll"):
            assert abs(fa["Pose"][k] + fb["Pose"][k]) < 6, (k, fa["Pose"], fb["Pose"])
        assert abs(fa["Pose"]["Pitch"] - fb["Pose"]["Pitch"]) < 6
        turned += abs(fa["Pose"]["Yaw"]) > 10
    assert turned >= 1  # the photo does have turned faces, so the check above means something


def test_exif_rotated_photo_is_corrected_and_reported(client, astronaut_bytes):
    upright = client.detect_faces(Image={"Bytes": astronaut_bytes})
    rotated = client.detect_faces(Image={"Bytes": (SAMPLES / "astronaut-exif-rotated.jpg").read_bytes()})
    validate_response("DetectFaces", rotated)
    assert rotated["OrientationCorrection"] == "ROTATE_90"
    a, b = upright["FaceDetails"][0]["BoundingBox"], rotated["FaceDetails"][0]["BoundingBox"]
    assert all(abs(a[k] - b[k]) < 0.01 for k in a)


DEFAULT_MEMBERS = {"BoundingBox", "Landmarks", "Pose", "Quality", "Confidence"}
OFFERED = {"AGE_RANGE": "AgeRange", "GENDER": "Gender", "EMOTIONS": "Emotions", "SMILE": "Smile",
           "MOUTH_OPEN": "MouthOpen", "EYES_OPEN": "EyesOpen", "EYE_DIRECTION": "EyeDirection",
           "EYEGLASSES": "Eyeglasses", "SUNGLASSES": "Sunglasses", "BEARD": "Beard", "MUSTACHE": "Mustache",
           "FACE_OCCLUDED": "FaceOccluded"}


def test_every_rekognition_attribute_is_offered():
    model = botocore.session.get_session().get_service_model("rekognition")
    members = set(model.shape_for("FaceDetail").members) - DEFAULT_MEMBERS
    assert set(OFFERED.values()) == members
    assert set(OFFERED) == set(model.shape_for("Attribute").enum) - {"DEFAULT", "ALL"}


def test_attributes_parameter_selects_members(client, astronaut_bytes):
    image = {"Bytes": astronaut_bytes}
    for attrs in (["DEFAULT"], []):
        face = client.detect_faces(Image=image, Attributes=attrs)["FaceDetails"][0]
        assert set(face) == DEFAULT_MEMBERS
    every = client.detect_faces(Image=image, Attributes=["ALL"])
    validate_response("DetectFaces", every)
    assert set(every["FaceDetails"][0]) == DEFAULT_MEMBERS | set(OFFERED.values())
    for name, member in OFFERED.items():
        resp = client.detect_faces(Image=image, Attributes=[name])
        validate_response("DetectFaces", resp)
        assert set(resp["FaceDetails"][0]) == DEFAULT_MEMBERS | {member}, name
        assert resp["FaceDetails"][0][member] == every["FaceDetails"][0][member]
    with pytest.raises(ClientError, match="ValidationException.*'SHOE_SIZE' at 'attributes.1.member'"):
        client.detect_faces(Image=image, Attributes=["SHOE_SIZE"])


def test_attributes_of_a_smiling_portrait(client, astronaut_bytes):
    face = client.detect_faces(Image={"Bytes": astronaut_bytes}, Attributes=["ALL"])["FaceDetails"][0]
    assert face["Smile"]["Value"] is True and face["MouthOpen"]["Value"] is True
    assert face["Gender"]["Value"] == "Female"
    assert face["Emotions"][0]["Type"] == "HAPPY"
    conf = [e["Confidence"] for e in face["Emotions"]]
    assert len(conf) == 8 and conf == sorted(conf, reverse=True) and abs(sum(conf) - 100) < 1e-6
    assert {e["Type"] for e in face["Emotions"]} == {"HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED",
                                                      "CALM", "FEAR"}
    low, high = face["AgeRange"]["Low"], face["AgeRange"]["High"]
    assert 20 <= low < high <= 60  # she was in her thirties
    assert face["EyesOpen"]["Value"] is True
    for member in ("Eyeglasses", "Sunglasses", "Beard", "Mustache", "FaceOccluded"):
        assert face[member]["Value"] is False, member
    assert face["EyeDirection"]["Confidence"] > 90 and abs(face["EyeDirection"]["Yaw"]) < 20


def test_gender_of_other_faces(client, insightface_images):
    face = client.detect_faces(Image={"Bytes": insightface_images["Tom_Hanks_54745.png"]},
                               Attributes=["GENDER", "SMILE"])["FaceDetails"][0]
    assert face["Gender"]["Value"] == "Male"


def test_compare_faces_same_person_mirrored_and_other_people(client, astronaut_bytes, insightface_images):
    resp = client.compare_faces(SourceImage={"Bytes": astronaut_bytes},
                                TargetImage={"Bytes": insightface_images["t1.jpg"]})
    validate_response("CompareFaces", resp)
    assert resp["FaceMatches"] == [] and len(resp["UnmatchedFaces"]) == 6
    resp = client.compare_faces(SourceImage={"Bytes": astronaut_bytes}, TargetImage={"Bytes": mirror(astronaut_bytes)},
                                SimilarityThreshold=0)
    validate_response("CompareFaces", resp)
    assert resp["FaceMatches"][0]["Similarity"] > 90
    assert resp["SourceImageFace"]["Confidence"] > 99


def test_compare_faces_matches_sorted_and_threshold_applied(client, insightface_images):
    t1 = insightface_images["t1.jpg"]
    resp = client.compare_faces(SourceImage={"Bytes": t1}, TargetImage={"Bytes": t1}, SimilarityThreshold=0)
    sims = [m["Similarity"] for m in resp["FaceMatches"]]
    assert len(sims) == 6 and sims == sorted(sims, reverse=True) and sims[0] > 99
    strict = client.compare_faces(SourceImage={"Bytes": t1}, TargetImage={"Bytes": t1})
    assert len(strict["FaceMatches"]) == 1  # only the source face itself passes 80
    assert len(strict["UnmatchedFaces"]) == 5


def test_compare_faces_errors(client, astronaut_bytes):
    no_face = (SAMPLES / "cat.jpg").read_bytes()
    with pytest.raises(client.exceptions.InvalidParameterException, match="no face"):
        client.compare_faces(SourceImage={"Bytes": no_face}, TargetImage={"Bytes": astronaut_bytes})
    # constraints of the service model (range, enum) are answered as AWS answers them
    with pytest.raises(ClientError, match="ValidationException.*less than or equal to 100"):
        client.compare_faces(SourceImage={"Bytes": astronaut_bytes}, TargetImage={"Bytes": astronaut_bytes},
                             SimilarityThreshold=120)
    with pytest.raises(ClientError, match="ValidationException.*enum value set"):
        client.compare_faces(SourceImage={"Bytes": astronaut_bytes}, TargetImage={"Bytes": astronaut_bytes},
                             QualityFilter="BEST")
    resp = client.compare_faces(SourceImage={"Bytes": astronaut_bytes}, TargetImage={"Bytes": no_face})
    assert resp["FaceMatches"] == [] and resp["UnmatchedFaces"] == []


def test_errors_look_like_boto3s(client):
    with pytest.raises(ClientError) as info:
        client.detect_faces(Image={"Bytes": b"hello"})
    assert info.value.response["Error"]["Code"] == "InvalidImageFormatException"
    assert info.value.operation_name == "DetectFaces"
    assert isinstance(info.value, client.exceptions.InvalidImageFormatException)


def test_similarity_mapping():
    assert similarity(0.6) == pytest.approx(80.0)
    d = np.linspace(0, 2, 201)
    s = np.array([similarity(v) for v in d])
    assert (np.diff(s) < 0).all() and s[0] > 99.5 and s[-1] < 0.01
    assert distance_for_similarity(similarity(0.45)) == pytest.approx(0.45)


def test_analyze_faces_accepts_paths_bytes_arrays(astronaut_bytes, astronaut_rgb):
    path = str(SAMPLES / "astronaut.jpg")
    by_path = facelake.analyze_faces(path)
    by_bytes = facelake.analyze_faces(astronaut_bytes)
    by_array = facelake.analyze_faces(astronaut_rgb)
    by_uri = facelake.analyze_faces("file://" + path)
    for faces in (by_path, by_bytes, by_array, by_uri):
        assert len(faces) == 1 and faces[0].embedding.shape == (128,)
        assert "BoundingBox" in faces[0].detail
    assert by_path[0].distance(by_array[0]) < 1e-5
    assert by_path[0].similarity(by_bytes[0]) > 99


def test_analyze_faces_does_the_same_as_detect_faces(client, astronaut_bytes):
    detail = facelake.analyze_faces(astronaut_bytes)[0].detail
    assert detail == client.detect_faces(Image={"Bytes": astronaut_bytes})["FaceDetails"][0]


def test_s3_object_image_with_version(client, s3_server, astronaut_bytes):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="photos")
    s3.put_bucket_versioning(Bucket="photos", VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket="photos", Key="me.jpg", Body=astronaut_bytes)["VersionId"]
    s3.put_object(Bucket="photos", Key="me.jpg", Body=b"overwritten with text")
    resp = client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "me.jpg", "Version": v1}})
    validate_response("DetectFaces", resp)
    assert len(resp["FaceDetails"]) == 1
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "me.jpg"}})
    with pytest.raises(client.exceptions.InvalidS3ObjectException):
        client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "nobody.jpg"}})
    s3.put_object(Bucket="photos", Key="big.jpg", Body=b"\xff" * (16 * 1024 * 1024))
    with pytest.raises(client.exceptions.ImageTooLargeException):
        client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "big.jpg"}})
    resp = client.compare_faces(SourceImage={"S3Object": {"Bucket": "photos", "Name": "me.jpg", "Version": v1}},
                                TargetImage={"Bytes": astronaut_bytes})
    assert resp["FaceMatches"][0]["Similarity"] > 99
