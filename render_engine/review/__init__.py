"""Looking at an edit before paying for finals: storyboard page, contact sheet, one-movie
preview and a status plot, all built from one per-shot review model (`review.shots`)."""
