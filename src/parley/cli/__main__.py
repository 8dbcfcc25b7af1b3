from parley.cli.main import app

app()
