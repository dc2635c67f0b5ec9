"""Training entry points for every mofrr stage; thin over mofrr_core."""
