"""Dialogue audio: text-to-speech engines, Rhubarb-style mouth cues and WAV files.

Import the pieces from their modules (`render_engine.audio.voice`, `.visemes`, `.wav`); this
package imports nothing heavy itself, so loading it never starts espeak or onnxruntime.
"""
