"""Run-time helpers: devices, CPU threads, seeding."""
