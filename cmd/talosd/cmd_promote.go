package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
)

func init() {
	register(&command{
		name:    "promote",
		summary: "make a running backup the primary (it fences the old primary with a new epoch)",
		run: func(args []string, stdout, stderr io.Writer) error {
			fs := newFlagSet("promote", "--addr HOST:PORT [--password P]", stderr)
			addr := fs.String("addr", "", "the backup's client (Redis protocol) address, host:port (required)")
			pass := fs.String("password", "", "the backup's requirepass, if it has one")
			timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the promotion")
			if err := parseFlags(fs, args, false); err != nil {
				return err
			}
			if *addr == "" {
				fmt.Fprintln(stderr, "talosd promote: --addr is required")
				fs.Usage()
				return errUsage
			}
			c := redis.NewClient(&redis.Options{Addr: *addr, Password: *pass, Protocol: 2,
				ReadTimeout: *timeout, WriteTimeout: *timeout, MaxRetries: -1, DisableIdentity: true})
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			defer cancel()
			if err := c.Do(ctx, "TALOS.PROMOTE").Err(); err != nil {
				return fmt.Errorf("%s: %w", *addr, err)
			}
			info, err := c.Info(ctx, "replication").Result()
			if err != nil {
				return fmt.Errorf("%s: promoted, but INFO failed: %w", *addr, err)
			}
			fmt.Fprintf(stdout, "%s is now the primary\n%s", *addr, info)
			return nil
		},
	})
}
