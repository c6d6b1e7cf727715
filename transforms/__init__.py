"""Beam PTransforms and DoFns (read, decode, detect, describe, embed, write). Not built yet."""
