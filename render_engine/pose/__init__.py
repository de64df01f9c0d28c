"""Human poses: procedural skeletons and OpenPose renderings for placeholders and pose control."""
