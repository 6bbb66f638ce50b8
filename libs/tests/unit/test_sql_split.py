from mss_db.migrations import split_statements


def test_statements_split_outside_function_bodies() -> None:
    script = """
        CREATE TABLE a (id int);
        CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'no'; END $$;
        CREATE INDEX i ON a (id)
    """
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE FUNCTION")
    assert "RAISE EXCEPTION 'no'; END $$" in statements[1]
