package main

// startupWarnings are the settings the manager runs with but a user should
// hear about at start: the log is where a misconfigured install shows.
func startupWarnings(f flags) []string {
	var out []string
	if !f.leaderElect {
		out = append(out, "leader election is off (--leader-elect=false): run exactly one replica; two managers without a leader both write to Bland")
	}
	return out
}
