"""Rekognition's shapes and the tables' rows: converters, pyarrow schemas, request checks from botocore's model."""
