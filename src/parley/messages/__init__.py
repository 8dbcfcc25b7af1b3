"""Messages in every room: DMs on two stores through `parley.replication`,
channel and group messages in PostgreSQL only."""
