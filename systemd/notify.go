package systemd

import (
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// statusInterval is how often STATUS is refreshed when no watchdog asks for
// more frequent pings.
const statusInterval = 5 * time.Second

// Notifier tells systemd about the daemon's state (READY, RELOADING,
// STOPPING, STATUS, WATCHDOG) through go-systemd's sd_notify client. Without
// NOTIFY_SOCKET in the environment every call is a no-op.
type Notifier struct {
	enabled  bool
	watchdog time.Duration
}

// NewNotifier reads NOTIFY_SOCKET through lookup. The watchdog interval
// (WATCHDOG_USEC, WATCHDOG_PID) and the notifications themselves go where
// go-systemd finds them in the process environment, which is where systemd
// puts them.
func NewNotifier(lookup func(string) (string, bool)) *Notifier {
	n := &Notifier{}
	if v, ok := lookup("NOTIFY_SOCKET"); ok && v != "" {
		n.enabled = true
		if d, err := daemon.SdWatchdogEnabled(false); err == nil {
			n.watchdog = d
		}
	}
	return n
}

// Enabled reports whether systemd listens.
func (n *Notifier) Enabled() bool { return n.enabled }

// Watchdog is the interval systemd expects pings within, or 0.
func (n *Notifier) Watchdog() time.Duration { return n.watchdog }

func (n *Notifier) send(state string) error {
	if !n.enabled {
		return nil
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Ready says the daemon serves, with an optional status line.
func (n *Notifier) Ready(status string) error {
	state := daemon.SdNotifyReady
	if status != "" {
		state += "\nSTATUS=" + status
	}
	return n.send(state)
}

// Reloading says a reload started; Ready ends it.
func (n *Notifier) Reloading() error {
	return n.send(daemon.SdNotifyReloading + "\nMONOTONIC_USEC=" + daemon.SdNotifyMonotonicUsec())
}

// Stopping says shutdown started.
func (n *Notifier) Stopping() error { return n.send(daemon.SdNotifyStopping) }

// StartWatchdog refreshes STATUS, and pings the watchdog at half its
// interval when systemd asked for one, until stop is called.
func (n *Notifier) StartWatchdog(status func() string, onErr func(error)) (stop func()) {
	if !n.enabled {
		return func() {}
	}
	every := statusInterval
	if n.watchdog > 0 && n.watchdog/2 < every {
		every = n.watchdog / 2
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				state := "STATUS=" + status()
				if n.watchdog > 0 {
					state = daemon.SdNotifyWatchdog + "\n" + state
				}
				if err := n.send(state); err != nil {
					onErr(err)
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}
