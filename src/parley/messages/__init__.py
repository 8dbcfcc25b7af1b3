"""Messages in every room: DMs on two stores through the resilience layer,
channel and group messages in PostgreSQL only."""
