"""The word lists behind identity normalisation (leadgen.duplicates.normalise), not its logic.

Each list answers one question the normalisers ask: which first names are one person's
(nicknames), which words of a company name are its legal form or a generic descriptor, which
e-mail providers say nothing about the employer, which public suffixes have two labels. They are
data, reviewed as data: extend them for a market the CRM covers, and the build and serving pick
the change up together (both import this module).
"""

from __future__ import annotations

from typing import Final

# Titles before a given name and generational or degree suffixes after a surname.
HONORIFICS: Final = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "herr", "frau", "mme", "mlle"}
)
GENERATIONAL: Final = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "mba"})
# Words that belong to the surname that follows them ("van der Berg", "de la Cruz", "bin Said").
SURNAME_PARTICLES: Final = frozenset({
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "dos", "das",
    "bin", "al", "el", "ter", "ten", "zu", "mac", "st",
})  # fmt: skip

# Nickname and spelling-variant groups: canonical name -> its other forms. Two first names are
# nickname-equal when they share a group. Cognates that are given names of their own are NOT
# merged (Jan/Juan/Ivan/Sean are not John, Sofia is not Sophie, Liam is not William): a colleague
# called Jan is another person. A form may sit in several groups ("chris", "alex", "pat").
NICKNAME_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "abigail": ("abby", "gail"),
    "alexander": ("alex", "alec", "sasha", "xander", "sandy"),
    "alexandra": ("alex", "alexa", "sasha", "sandra", "lexi"),
    "andrew": ("andy", "drew"),
    "anthony": ("tony", "ant"),
    "anna": ("ann", "anne", "annie"),
    "barbara": ("barb", "babs"),
    "benjamin": ("ben", "benny", "benji"),
    "catherine": ("katherine", "kathryn", "kate", "katie", "kathy", "cathy", "kat", "katy"),
    "charles": ("charlie", "chuck", "chas"),
    "charlotte": ("lottie", "charlie"),
    "christopher": ("chris", "kit", "topher"),
    "christine": ("chris", "chrissy", "tina", "christina", "kristina", "kristin"),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davey", "davy"),
    "deborah": ("deb", "debbie"),
    "dmitri": ("dima", "dmitry", "dmitriy"),
    "donald": ("don", "donny"),
    "edward": ("ed", "eddie", "ted", "ned"),
    "elizabeth": ("liz", "beth", "betty", "eliza", "lizzie", "libby", "bess", "elisabeth"),
    "emily": ("em", "emmy", "emilie"),
    "frederick": ("fred", "freddie", "fritz"),
    "gabriel": ("gabe",),
    "gregory": ("greg",),
    "isabella": ("bella", "izzy", "isabel"),
    "james": ("jim", "jimmy", "jamie"),
    "javier": ("javi",),
    "jennifer": ("jen", "jenny", "jenn"),
    "jessica": ("jess", "jessie"),
    "john": ("jack", "johnny", "jon", "jonathan", "johnathan", "jonny"),
    "joseph": ("joe", "joey"),
    "joshua": ("josh",),
    "julia": ("jules", "julie"),
    "kenneth": ("ken", "kenny"),
    "kevin": ("kev",),
    "kimberly": ("kim",),
    "laura": ("laurie", "lori"),
    "lawrence": ("larry", "laurence"),
    "lucas": ("luke",),
    "margaret": ("maggie", "meg", "peggy", "marge", "greta"),
    "mary": ("molly", "polly", "mae"),
    "matthew": ("matt", "matty"),
    "michael": ("mike", "mick", "mikey", "mickey"),
    "nancy": ("nan",),
    "nathaniel": ("nate", "nathan", "nat"),
    "nicholas": ("nick", "nicky", "nico"),
    "oliver": ("ollie", "olly"),
    "olivia": ("liv", "livvy"),
    "patricia": ("pat", "patty", "trish", "tricia"),
    "patrick": ("pat", "paddy"),
    "peter": ("pete",),
    "philip": ("phil", "phillip"),
    "rachel": ("rach",),
    "rafael": ("rafa", "raphael"),
    "rebecca": ("becky", "becca"),
    "richard": ("rick", "ricky", "rich", "richie", "dick"),
    "robert": ("bob", "bobby", "rob", "robbie", "bert"),
    "ronald": ("ron", "ronnie"),
    "samuel": ("sam", "sammy"),
    "samantha": ("sam", "sammy"),
    "sarah": ("sara", "sally"),
    "sophie": ("sophia",),
    "stephen": ("steven", "steve", "stevie"),
    "susan": ("sue", "suzy", "susie"),
    "tatiana": ("tanya", "tania"),
    "theodore": ("theo", "ted", "teddy"),
    "thomas": ("tom", "tommy", "thom", "tomas"),
    "timothy": ("tim", "timmy"),
    "victoria": ("vicky", "tori", "vic"),
    "william": ("bill", "will", "billy", "willy", "willie"),
    "zachary": ("zach", "zack"),
    "zoe": ("zoey",),
}
# Forms that are given names in their own right keep their own group first ("Jack" blocks under
# "jack" and is only nickname-equal to John, a weaker level than an exact name).
OWN_NAMES: Final = frozenset(
    {"jack", "jonathan", "anne", "sandra", "tina", "greta", "kristina", "christina", "katherine",
     "kathryn", "sophia", "nathan", "isabel", "sally"}
)  # fmt: skip

# Trailing legal forms, after punctuation is removed ("L.L.C." -> "llc"). Stripped only at the
# end of a name, so "De Beers" keeps its "de".
LEGAL_FORMS: Final = frozenset({
    "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "liability", "corp",
    "corporation", "co", "company", "plc", "gmbh", "mbh", "ag", "kg", "ug", "se", "sa", "sas",
    "sarl", "srl", "spa", "bv", "nv", "pty", "pvt", "pte", "private", "proprietary", "public",
    "kk", "kabushiki", "kaisha", "ab", "aktiebolag", "aktiengesellschaft", "sl", "ltda", "de",
    "cv", "sab", "oy", "oyj", "as", "asa", "aps", "lda", "bhd", "sdn", "tbk", "pt", "cia",
})  # fmt: skip
# Trailing generic descriptors people drop ("Acme Soft Group" is "Acme Soft"); kept when they are
# all that is left, so "Group" alone stays "group".
GENERIC_DESCRIPTORS: Final = frozenset({
    "group", "holdings", "holding", "international", "global", "worldwide", "technologies",
    "solutions", "services", "enterprises", "sons", "brothers", "associates",
})  # fmt: skip
COMPANY_ABBREVIATIONS: Final[dict[str, str]] = {
    "intl": "international", "int": "international", "tech": "technologies",
    "techs": "technologies", "technology": "technologies", "mfg": "manufacturing",
    "hldgs": "holdings", "hldg": "holdings", "grp": "group", "svcs": "services",
    "svc": "services", "sys": "systems", "assoc": "associates", "bros": "brothers",
    "natl": "national", "mgmt": "management", "univ": "university", "ctr": "center",
    "centre": "center", "solns": "solutions", "glbl": "global", "inds": "industries",
}  # fmt: skip
COMPANY_STOPWORDS: Final = frozenset({"and", "the", "of"})

# Free-mail providers, by the first label of the registrable domain (yahoo.co.uk, gmx.de, ...):
# their addresses say nothing about the employer.
FREE_MAIL_LABELS: Final = frozenset({
    "gmail", "googlemail", "yahoo", "ymail", "rocketmail", "outlook", "hotmail", "live", "msn",
    "icloud", "me", "mac", "aol", "protonmail", "proton", "pm", "gmx", "web", "mail", "yandex",
    "qq", "163", "126", "sina", "zoho", "fastmail", "hey", "tutanota", "tuta", "hushmail",
    "laposte", "orange", "free", "wanadoo", "libero", "virgilio", "seznam", "rediffmail",
    "naver", "daum", "hanmail", "bol", "uol", "terra", "t-online", "btinternet", "comcast",
    "verizon", "att", "sbcglobal", "bellsouth", "shaw", "rogers", "sympatico", "bigpond",
    "optusnet", "xtra", "telstra", "mailinator", "guerrillamail",
})  # fmt: skip
# Two-label public suffixes of the markets the CRM covers (a Public Suffix List snapshot is the
# choice once coverage matters more than a dependency).
SECOND_LEVEL_SUFFIXES: Final = frozenset({
    "co.uk", "org.uk", "ac.uk", "gov.uk", "com.br", "com.au", "net.au", "org.au", "com.mx",
    "co.za", "co.jp", "ne.jp", "or.jp", "co.in", "net.in", "org.in", "com.sg", "com.cn",
    "co.nz", "com.ar", "com.tr", "co.kr", "com.hk", "com.tw", "co.il", "com.my", "co.id",
})  # fmt: skip

# Country names and codes as CRMs spell them -> ISO 3166 alpha-2.
COUNTRY_ALIASES: Final[dict[str, str]] = {
    "united states": "us", "usa": "us", "us": "us", "united states of america": "us",
    "america": "us", "united kingdom": "gb", "uk": "gb", "gb": "gb", "great britain": "gb",
    "england": "gb", "scotland": "gb", "wales": "gb", "germany": "de", "deutschland": "de",
    "de": "de", "india": "in", "in": "in", "france": "fr", "fr": "fr", "canada": "ca",
    "ca": "ca", "brazil": "br", "brasil": "br", "br": "br", "australia": "au", "au": "au",
    "netherlands": "nl", "the netherlands": "nl", "holland": "nl", "nl": "nl", "spain": "es",
    "espana": "es", "es": "es", "japan": "jp", "jp": "jp", "singapore": "sg", "sg": "sg",
    "mexico": "mx", "mx": "mx", "sweden": "se", "sverige": "se", "se": "se",
    "south africa": "za", "za": "za",
}  # fmt: skip

# ---- addresses (leadgen.duplicates.address) --------------------------------------------------
# Street types and their abbreviations -> one short form ("Street", "St", "Str" are "st").
STREET_TYPES: Final[dict[str, str]] = {
    "street": "st", "st": "st", "str": "st", "strasse": "st", "road": "rd", "rd": "rd",
    "avenue": "ave", "ave": "ave", "av": "ave", "avenida": "ave", "boulevard": "blvd",
    "blvd": "blvd", "bd": "blvd", "drive": "dr", "dr": "dr", "lane": "ln", "ln": "ln",
    "place": "pl", "pl": "pl", "platz": "pl", "court": "ct", "ct": "ct", "crescent": "cres",
    "cres": "cres", "circuit": "cct", "cct": "cct", "terrace": "tce", "tce": "tce",
    "terr": "tce", "parade": "pde", "pde": "pde", "highway": "hwy", "hwy": "hwy",
    "square": "sq", "sq": "sq", "close": "cl", "cl": "cl", "grove": "gr", "gr": "gr",
    "parkway": "pkwy", "pkwy": "pkwy", "circle": "cir", "cir": "cir", "trail": "trl",
    "trl": "trl", "esplanade": "esp", "esp": "esp", "gardens": "gdns", "gdns": "gdns",
    "plaza": "plz", "plz": "plz", "expressway": "expy", "freeway": "fwy", "route": "rte",
    "rte": "rte", "weg": "weg", "allee": "allee", "gasse": "gasse", "straat": "straat",
    "laan": "laan", "chemin": "ch", "ch": "ch", "calle": "calle", "c": "calle",
    "rua": "rua", "r": "rua", "via": "via", "viale": "viale", "piazza": "pza", "pza": "pza",
}  # fmt: skip
# A type written as the end of one word ("Hauptstraße", "Hauptstr.", "Birkenweg") -> its form.
STREET_SUFFIXES: Final[dict[str, str]] = {
    "strasse": "st", "str": "st", "straat": "straat", "platz": "pl", "weg": "weg",
    "gasse": "gasse", "allee": "allee", "laan": "laan", "gatan": "gatan", "vagen": "vagen",
}  # fmt: skip
DIRECTIONS: Final[dict[str, str]] = {
    "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
    "southeast": "se", "southwest": "sw", "nord": "n", "sud": "s", "ost": "e", "est": "e",
    "ouest": "w", "nth": "n", "sth": "s",
}  # fmt: skip
# Words that introduce a unit inside a building: they and their number are not the street's.
UNIT_WORDS: Final = frozenset({
    "apt", "apartment", "unit", "suite", "ste", "flat", "fl", "floor", "room", "rm", "bldg",
    "building", "lot", "shop", "level", "lvl", "dept", "department", "etage", "whg", "piso",
})  # fmt: skip
CITY_WORDS: Final[dict[str, str]] = {
    "saint": "st", "sankt": "st", "sainte": "ste", "mount": "mt", "fort": "ft", "port": "pt",
    "santa": "sta", "san": "sn", "north": "n", "south": "s", "east": "e", "west": "w",
}  # fmt: skip
# Countries whose postcodes are digits of a fixed length: a code shorter than that lost its
# leading zeros to a spreadsheet ("01310" read as the number 1310).
POSTCODE_DIGITS: Final[dict[str, int]] = {
    "us": 5, "de": 5, "fr": 5, "es": 5, "it": 5, "mx": 5, "fi": 5, "my": 5, "tr": 5, "se": 5,
    "au": 4, "nz": 4, "at": 4, "ch": 4, "be": 4, "dk": 4, "no": 4, "za": 4, "br": 8, "jp": 7,
    "in": 6, "sg": 6, "cn": 6, "ru": 6,
}  # fmt: skip
