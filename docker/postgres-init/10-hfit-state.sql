-- Runs once, when the pgdata volume is new: the database of the hfit service state (users, tokens, builds,
-- audit, alerts). Dagster's storage is the database POSTGRES_DB (dagster) that the image creates itself.
CREATE DATABASE hfit_state;
