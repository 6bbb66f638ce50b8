from mss_db.migrations import run_env

run_env("security")
