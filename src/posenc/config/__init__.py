"""What a run is asked to do: Hydra composition (`compose`), the schemas derived from the
targets' signatures (`schemas`, read by posenc.signatures), and the objective a search
reads (`objective`).
"""
