"""Tuning constants and limits, in one place. Each is a default: the classes that use them
(AnalyzerConfig, ImageLimits, the collection store, the jobs) take other values where asked.

This module imports nothing, so every layer may read it.
"""

# --- images (Rekognition's limits) ---------------------------------------------------------------
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # an image passed as bytes
MAX_S3_IMAGE_BYTES = 15 * 1024 * 1024  # an image read from S3, a path or a URI
MIN_IMAGE_SIDE = 80  # px, each side
MAX_IMAGE_PIXELS = 64_000_000  # checked from the header before decoding
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF")
# JPEGs larger than this are decoded at a reduced scale (libjpeg DCT scaling): faces keep far
# more pixels than the detector and the 150 px chips need, at a fraction of the time.
DECODE_MAX_SIDE = 2048

# --- object stores (s3:// through s3fs/botocore) --------------------------------------------------
# A dead endpoint must fail fast: botocore's "standard" retry mode with this many attempts per
# request, and these timeouts (seconds). FSSPEC_S3_CONFIG_KWARGS or fsspec's config override them.
S3_MAX_ATTEMPTS = 2
S3_CONNECT_TIMEOUT = 5
S3_READ_TIMEOUT = 60
# After this many reads in a row failed to reach the object store, a worker stops trying and
# gives every further input of that store an error row at once (the run still finishes).
S3_UNREACHABLE_AFTER = 3

# --- face analysis -------------------------------------------------------------------------------
# the detector sees the image resized to this long side: 800 px puts Rekognition's smallest face
# (40 px in 1920) at 17 px, just above RetinaFace's smallest anchor (16 px)
DETECT_MAX_SIDE = 800
MIN_DETECTION_SCORE = 0.7  # 0..1
MAX_FACES = 100  # the largest faces are kept, as Rekognition does
# Rekognition's guidance: faces of at least 40 px in a 1920x1080 image, proportionally more in
# larger ones; the same ratio applies to every image (0 disables the check).
MIN_FACE_RATIO = 40 / 1920
MODEL_BATCH = 32  # faces per attribute-model call

# --- jobs ----------------------------------------------------------------------------------------
# face crops (detect --thumbnails, facelake report): the long side, the face with a 20% margin each side
THUMBNAIL_SIDE = 96
IMAGES_PER_BATCH = 8  # images per analysis batch in the Beam jobs (--batch-size)
ROWS_PER_FILE = 20_000  # rows per Parquet file a worker writes
SEARCH_BATCH = 256  # query faces per collection-search batch
JOIN_BATCH = (256, 4096)  # faces of library A per blocked join, min and max

# --- collections ---------------------------------------------------------------------------------
# Past this many faces a collection gets an ANN index (below it, an exact scan is fast enough).
# IVF_HNSW_SQ: HNSW graphs inside IVF partitions over 8-bit scalar-quantised vectors; LanceDB's
# IVF_PQ defaults recall poorly on 128-d face descriptors. Quantisation alone caps recall@10 near
# 0.95 at 1M faces; re-ranking 2 x k candidates on the full vectors ("refine") lifts it to ~0.99
# for ~1 ms. Settings chosen with benchmarks/collection_scale.py (see BENCHMARKS.md).
INDEX_MIN_FACES = 100_000
INDEX_REFRESH_FACES = 10_000  # an existing index is brought up to date every this many new faces
# a ClientRequestToken is honoured this long (Rekognition names no window); older answers are
# forgotten, and purged from the store every REQUESTS_PURGE_EVERY answers kept
REQUEST_TOKEN_HOURS = 24
REQUESTS_PURGE_EVERY = 1000
INDEX_SETTINGS = {"rows_per_partition": 65_536, "m": 16, "ef_construction": 150}
SEARCH_SETTINGS = {"nprobes": 8, "ef": 64, "refine": 2}  # at 1M: p50 7 ms, recall@10 0.97-0.98 (BENCHMARKS.md)
ANN_SCRATCH_MIN_FACES = 5000  # compare-libraries --ann: below this an exact scan of B is as fast

# --- video (Rekognition's limits: 10 GB, 6 hours) --------------------------------------------------
MAX_VIDEO_BYTES = 10 * 1024 ** 3
MAX_VIDEO_SECONDS = 6 * 3600
VIDEO_READ_TIMEOUT = 60  # s: FFmpeg gives up on a read that hangs this long
# frames the face models see are decoded at most this long side (720p stays whole; the detector
# itself works at DETECT_MAX_SIDE, and 1280 keeps the 150 px chips sharp for faces >= 40 px)
VIDEO_DECODE_MAX_SIDE = 1280
VIDEO_FPS = 5  # frames analysed per second of video (--fps), Rekognition Video's sampling
# a video is cut into ranges of this many frames, analysed in parallel and stitched again
VIDEO_RANGE_FRAMES = 3000
MIN_RANGE_FRAMES = 150  # ranges made shorter to keep every worker busy are at least this long
