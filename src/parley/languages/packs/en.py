"""English: the pack every module defaults to."""

from __future__ import annotations

from parley.languages.packs.base import LanguagePack, Lines, digits, phrases, words

ENGLISH = LanguagePack(
    code="en",
    lines=Lines(
        idle_prompt="Are you still there?",
        idle_goodbye="It seems you have stepped away. Goodbye for now!",
        max_turns_goodbye="We have reached the end of our time for this conversation. Goodbye!",
        policy_fallback=(
            "I'm sorry, I can't help with that. Is there anything else I can do for you?"
        ),
        loop_say=(
            "I'm sorry, we seem to be going around in circles. Let's try something "
            "different: could you tell me in a few words what you need?"
        ),
        loop_end=(
            "I'm sorry, I don't seem to be able to help with this right now. "
            "Thank you for calling, goodbye."
        ),
        end_call="Thank you for calling. Goodbye!",
        transfer="Transferring you now.",
        wait_fillers=("One moment, please.", "Let me check that."),
        tool_filler="One moment while I check that.",
        search_filler="Let me look that up.",
    ),
    fillers=("um+", "uh+", "er+m?", "hmm+", "mm+"),
    trailing_words=words(
        "and but or so because then if with to the a an my our your of is are was"
    ),
    digit_words=digits("zero one two three four five six seven eight nine", oh="0"),
    backchannels=phrases(
        "mhm|mm|mmhmm|mm hmm|hmm|uh huh|uhhuh|aha|ah|oh|yeah|yes|yep|yup|ok|okay|right|sure"
        "|i see|got it|go on|alright|all right|cool|nice"
    ),
    email_dot=("dot",),
    email_at=("at",),
    email_underscore=("underscore",),
    email_context=("mail",),
    abbreviations=phrases("mr|mrs|ms|dr|prof|sr|jr|st|vs|etc|e.g|i.e|no|approx"),
    loop_fillers=(
        "um umm uh uhh er erm ah ahh hmm mm mhm oh okay ok alright well so like just please "
        "really actually basically yeah yep yes no nope sure right hey hi hello thanks thank"
    ),
    loop_function_words=(
        "i me my mine we us our you your yours he him his she her it its they them their a "
        "an the this that these those there here and or but if then than of to in on at by "
        "for with from about as into is are was were be been being am do does did done have "
        "has had can could will would shall should may might must i'm i've i'll i'd you're "
        "you've you'll it's that's there's let's don't doesn't didn't can't won't isn't "
        "aren't wasn't not what which who how when where why all any some anything something "
        "nothing one get got go going want know see say said tell told again still also too "
        "very more good great fine perfect correct cool awesome wonderful exactly sound "
        "sounds lot much bye goodbye sorry pardon excuse"
    ),
    plural_suffixes=("s",),
)
"""English (the default of every module that takes a pack)."""
