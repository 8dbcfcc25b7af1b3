"""Benchmarks. Run each as a module from the repository root
(`.venv/bin/python -m bench.http`): run as a file, its folder would come first on
`sys.path` and `bench/http.py` would shadow the standard library's `http`."""
