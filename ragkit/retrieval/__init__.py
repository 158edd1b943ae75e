"""Retrieval: dense and BM25 search fused by rank, filters, the optional
cross-encoder reranker, and pruning of the passages found to what bears on
the question."""
