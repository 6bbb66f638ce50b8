"""Pytest fixtures for integration tests against the real PostgreSQL, Redis and RabbitMQ.

URLs come from the environment (MSS_TEST_DATABASE_URL, MSS_REDIS_URL, MSS_RABBITMQ_URL;
this machine has them on localhost). Where they are unreachable and Docker runs,
testcontainers starts them. Each test session gets a fresh database and its own bus
namespace, so it never disturbs a running platform.
"""
