"""Tests of packaging/ and docker-compose.yml: static checks, plus what the container runs, run outside it."""
