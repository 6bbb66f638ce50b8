"""Security rules, free of frameworks and storage."""
