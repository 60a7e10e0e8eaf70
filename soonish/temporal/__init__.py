"""Durable orchestration: workflows only orchestrate; activities do all I/O."""
