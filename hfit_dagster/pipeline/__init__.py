"""Building a package: stage (extract + mask) then write and publish. Used by the CLI and by Dagster."""
