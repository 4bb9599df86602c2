"""End-of-turn models: does the speech before a pause sound finished?"""
