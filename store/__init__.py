"""Storage: LanceDB face collections and the staged commit of Parquet tables; the only layer that writes."""
