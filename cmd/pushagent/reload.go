package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/pushagent/pushagent/agent"
	"github.com/pushagent/pushagent/agent/config"
)

// reloadDebounce lets an editor finish writing (write, rename, chmod)
// before the file is read, so one save is one reload.
const reloadDebounce = 300 * time.Millisecond

// watchReloads reloads the config on SIGHUP and whenever the file changes,
// until ctx ends. An invalid config is rejected with its problems and the
// running one stays.
//
// hup is subscribed to SIGHUP before the plugins compile, so a reload
// signal sent during start-up is served once the agent runs instead of
// killing the process (SIGHUP's default action).
func watchReloads(ctx context.Context, a *agent.Agent, path string, hup <-chan os.Signal, logger *slog.Logger) {
	// Watch the directory: editors replace the file (rename), which ends a
	// watch on the file itself; Kubernetes ConfigMap volumes swap a
	// "..data" symlink in the directory instead of touching the file.
	// And the file: one bind-mounted into a container (docker run -v
	// ./schedules.yaml:/opt/pushagent/schedules.yaml) is written through
	// the host's directory, which the watch of the container's directory
	// never hears of, while a watch of the file (of its inode) does.
	var events <-chan fsnotify.Event
	watchFile := func() {}
	abs, _ := filepath.Abs(path)
	if w, err := fsnotify.NewWatcher(); err != nil {
		logger.Warn("config file watching off; reload with SIGHUP", "err", err)
	} else {
		defer w.Close()
		if err := w.Add(filepath.Dir(abs)); err != nil {
			logger.Warn("config file watching off; reload with SIGHUP", "dir", filepath.Dir(abs), "err", err)
		} else {
			events = w.Events
			// Best effort, and again at each reload: a replaced file
			// ended the watch of the one it replaced.
			watchFile = func() { _ = w.Add(abs) }
			watchFile()
		}
	}

	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload(ctx, a, path, "SIGHUP", logger)
		case ev := <-events:
			evAbs, _ := filepath.Abs(ev.Name)
			if (evAbs == abs || filepath.Base(ev.Name) == "..data") && !ev.Has(fsnotify.Chmod) {
				timer = time.After(reloadDebounce)
			}
		case <-timer:
			timer = nil
			watchFile()
			reload(ctx, a, path, "file changed", logger)
		}
	}
}

func reload(ctx context.Context, a *agent.Agent, path, why string, logger *slog.Logger) {
	res, err := a.ReloadFile(ctx, path, config.Options{})
	if err != nil {
		logger.Error("reload rejected: the old config keeps running", "trigger", why, "err", err)
		return
	}
	logger.Info("config reloaded", "trigger", why, "added", res.Added, "changed", res.Changed, "removed", res.Removed, "unchanged", len(res.Unchanged),
		"outputs_added", res.OutputsAdded, "outputs_changed", res.OutputsChanged, "outputs_removed", res.OutputsRemoved)
}
