"""Beam PTransforms and DoFns (match, read, decode, analyse, write, index, search), each usable in a user's pipeline."""
