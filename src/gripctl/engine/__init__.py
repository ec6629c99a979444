"""Engine: executes plans (concurrency, approvals, verification, remediation, locks); it alone acts."""
