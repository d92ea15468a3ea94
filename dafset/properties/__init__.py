"""The four DAFSet property selectors. Each turns a Source into a Fact table; none knows about
HTTP, stores or Prefect."""
