# (stage under construction)
