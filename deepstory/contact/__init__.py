"""The contact sheet: each speaker at rest and in every mouth shape, as the animator draws them."""
