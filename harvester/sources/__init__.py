"""One module per upstream service: `fetch` does the I/O, `parse` is a pure function of the payload."""
