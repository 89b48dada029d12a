"""The study: what to run, named and scheduled (torch-free; the only library the workflow's rules import)."""
