"""The results page of a benchmark: server-rendered HTML and SVG, live over /ws."""
