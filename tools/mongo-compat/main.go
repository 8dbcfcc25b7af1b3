// Command mongo-compat runs an embedded FerretDB v1 so that Parley's local
// development and tests have a MongoDB-wire-protocol server when no mongod is
// installed. It is a launcher only: all behaviour comes from FerretDB.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "postgresql", "storage handler: postgresql or sqlite")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL for the postgresql handler")
	sqliteURL := flag.String("sqlite-url", "", "directory URI for the sqlite handler, e.g. file:/data/")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "mongo-compat: bad -log-level:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        logger,
		Handler:       *handler,
		PostgreSQLURL: *postgresURL,
		SQLiteURL:     *sqliteURL,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongo-compat:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintln(os.Stderr, "mongo-compat: listening on", *listen, "handler", *handler)
	if err := f.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mongo-compat:", err)
		os.Exit(1)
	}
}
