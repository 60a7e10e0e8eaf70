"""The real parts the tests and the benchmarks run Soonish against, on this machine's loopback:
Temporal dev and time-skipping servers and an in-process worker (harness), Soonish's own
processes and scratch databases (processes), a PostgreSQL primary with a streaming replica
(postgres_cluster), SMTP and HTTP sinks (sinks), a Web Push service that checks what it is sent
as a real one does (push_service), and followers seeded by the thousand (seeding).

Its own package, not under tests/: bench/ starts the same parts and imports nothing from the
test suite (tests/test_layers.py holds both to that)."""
