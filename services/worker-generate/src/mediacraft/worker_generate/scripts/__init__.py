"""Script generation for video-creation projects: the `video_script` task type of the generation pool."""
