"""What the server tells about itself: request logs and system metrics as events."""
