"""Act it yourself: a take of the creator's face drives a character (`soloreel capture`).

`models` fetches MediaPipe's face detector and mesh at install time, `mesh` runs them,
`track` turns a take into a smoothed performance (head pose, expression track), `store`
keeps it by the take's bytes and finds it for the dialog line the take plays, `live` is the
rehearsal preview.
"""
