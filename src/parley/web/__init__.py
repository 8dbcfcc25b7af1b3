"""The web client: static files (plain ES modules, no build step) served at `/`
and `/status`. It talks to Parley only through the public API under `/api`;
nothing here reads the databases or the application state."""
