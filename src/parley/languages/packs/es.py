"""Spanish (neutral register, the caller addressed as *usted*)."""

from __future__ import annotations

from parley.languages.packs.base import LanguagePack, Lines, digits, phrases, words

SPANISH = LanguagePack(
    code="es",
    lines=Lines(
        idle_prompt="¿Sigue ahí?",
        idle_goodbye="Parece que se ha ausentado. ¡Hasta pronto!",
        max_turns_goodbye="Hemos llegado al final del tiempo de esta conversación. ¡Hasta luego!",
        policy_fallback=(
            "Lo siento, con eso no puedo ayudarle. ¿Hay algo más en lo que pueda ayudarle?"
        ),
        loop_say=(
            "Perdone, parece que estamos dando vueltas. Probemos de otra manera: "
            "¿podría decirme en pocas palabras qué necesita?"
        ),
        loop_end=(
            "Lo siento, ahora mismo no consigo ayudarle con esto. Gracias por llamar, adiós."
        ),
        end_call="Gracias por llamar. ¡Adiós!",
        transfer="Le paso la llamada ahora mismo.",
        wait_fillers=("Un momento, por favor.", "Déjeme comprobarlo."),
        tool_filler="Un momento, lo estoy comprobando.",
        search_filler="Déjeme buscarlo.",
    ),
    # "pues", "bueno" and "es" are left out: "Así es." and "Bueno." end turns
    fillers=("e+h+", "e+m+", "mm+", "este", "o sea", "a ver", "digamos"),
    trailing_words=words(
        "y e o u ni pero aunque sino porque que si como cuando donde "
        "a al de del en con para por sin desde hacia "
        "el la los las un una unos unas "
        "mi mis tu tus su sus nuestro nuestra nuestros nuestras"
    ),
    digit_words=digits("cero uno dos tres cuatro cinco seis siete ocho nueve"),
    backchannels=phrases(
        "sí|si|vale|claro|ajá|aja|mhm|mm|hm|ah|oh|ok|okey|okay|ya|bueno|de acuerdo|entiendo"
        "|perfecto|exacto|eso es|claro que sí|ya veo|muy bien|bien|sí sí|ándale"
    ),
    non_speech=("amara.org",),
    email_dot=("punto",),
    email_at=("arroba",),
    email_underscore=("guion bajo", "guión bajo"),
    email_context=("correo", "mail"),
    abbreviations=phrases(
        "sr|sra|srta|dr|dra|lic|ing|prof|profa|etc|ud|uds|vd|vds|núm|pág|págs|av|avda|ej"
        "|aprox|tel|dpto|cía|ee.uu"
    ),
    loop_fillers=(
        "eh em este mm mhm ah oh vale ok okey bueno pues o sea bien sí no claro hola oiga "
        "mire gracias ya venga por favor"
    ),
    loop_function_words=(
        "yo me mi mis mío mía tu tus te ti usted ustedes le les lo los la las el ella ellos "
        "ellas nos nosotros nuestro nuestra su sus se un una unos unas este esta esto estos "
        "estas ese esa eso esos esas aquí allí ahí y e u pero si que de del a al en con "
        "para sin sobre como cuando donde quien cual cuanto qué cómo es son era fue ser "
        "estar está estoy están estaba he ha han hay haber tengo tiene tienen tener hago "
        "hace hacer puedo puede poder quiero quiere querer voy va ir sé sabe saber decir "
        "dice digo ver veo otra otro vez más muy también todavía algo nada todo todos mucho "
        "poco buena perfecto correcto exacto genial adiós hasta luego perdón disculpe siento"
    ),
    plural_suffixes=("s",),
)
"""Spanish."""
