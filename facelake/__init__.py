"""facelake: Amazon Rekognition's face features, open and self-hosted.

    import facelake
    client = facelake.client()            # a boto3 Rekognition client, answered locally
    client.detect_faces(Image={"Bytes": open("photo.jpg", "rb").read()})
    faces = facelake.analyze_faces("photo.jpg")   # .detail (FaceDetail dict) and .embedding
"""

from .client import client
from .faces import AnalyzedFace, analyze_faces

__all__ = ["client", "analyze_faces", "AnalyzedFace"]
__version__ = "0.1.0"
