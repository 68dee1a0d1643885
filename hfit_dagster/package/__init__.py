"""Package writing: SQL script, Parquet files, manifest."""
