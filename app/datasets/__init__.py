"""Benchmark datasets: parsing standard files and storing them as versioned items."""
