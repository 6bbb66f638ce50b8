pytest_plugins = ["mss_testing.plugin"]
