"""Name vocabularies of the synthetic CRM: hundreds of first names, thousands of surnames.

Why this size: how often two different people share a full name decides how hard "a colleague
with the same name" is for the fuzzy duplicate check, so the vocabulary must collide about as
rarely as real names do. A Zipf-like frequency over about 400 first names and 3,300 surnames
does; the first vocabulary (119 x 120 names) made full-name twins about thirty times more common,
and the matcher's false positives were the generator's (bench/FUZZY.md measures the rate). Real
surnames form the head; a tail of plausible surnames is composed from each naming culture's own
parts (Ash+ford, Berg+mann, Lind+qvist, Naka+mura), so rare names are rare as in a real CRM.

Everything is fixed data or derived from it with a fixed seed: the lists do not depend on the
generator's seed, and the generator keeps drawing one uniform per person per name (an index into
these lists), so enlarging them changed names and e-mails and no other column.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

FIRST_NAME_ZIPF: Final = 0.5
SURNAME_ZIPF: Final = 0.65

# The most frequent first (given) names first; the first 119 were the generator's whole list.
FIRST_NAMES: Final[tuple[str, ...]] = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Emily", "Mark", "Anna",
    "Paul", "Laura", "Steven", "Emma", "Andrew", "Olivia", "Joshua", "Sophie", "Kevin", "Hannah",
    "Brian", "Rachel", "George", "Julia", "Oliver", "Charlotte", "Lukas", "Lena", "Felix", "Mia",
    "Jan", "Sofia", "Lucas", "Camille", "Hugo", "Chloé", "Louis", "Léa", "Mateo", "Lucía",
    "Pablo", "María", "Javier", "Carmen", "Diego", "Valentina", "João", "Ana", "Rafael", "Beatriz",
    "Arjun", "Priya", "Rahul", "Ananya", "Vikram", "Neha", "Amit", "Pooja", "Wei", "Mei", "Jun",
    "Li", "Hiroshi", "Yuki", "Kenji", "Sakura", "Min-jun", "Ji-woo", "Ahmed", "Fatima", "Omar",
    "Aisha", "Yusuf", "Layla", "Kwame", "Amara", "Thabo", "Zanele", "Lars", "Ingrid", "Björn",
    "Astrid", "Sven", "Freya", "Noah", "Ava", "Liam", "Isabella", "Ethan", "Grace", "Jack", "Zoë",
    "Sean", "Siobhan", "Renée", "Dmitri", "Olga", "Ivan", "Tatiana",
    # English-speaking countries
    "Christopher", "Margaret", "Donald", "Dorothy", "Kenneth", "Sandra", "Ashley", "Kimberly",
    "Donna", "Edward", "Michelle", "Ronald", "Carol", "Timothy", "Amanda", "Jason", "Melissa",
    "Jeffrey", "Deborah", "Ryan", "Stephanie", "Jacob", "Rebecca", "Gary", "Sharon", "Nicholas",
    "Cynthia", "Eric", "Kathleen", "Jonathan", "Amy", "Stephen", "Angela", "Larry", "Shirley",
    "Justin", "Brenda", "Scott", "Pamela", "Brandon", "Nicole", "Benjamin", "Samantha", "Samuel",
    "Katherine", "Gregory", "Christine", "Alexander", "Debra", "Frank", "Rachael", "Patrick",
    "Carolyn", "Raymond", "Janet", "Jerry", "Heather", "Tyler", "Diane", "Aaron", "Ruth",
    "Jose", "Julie", "Adam", "Olive", "Nathan", "Joyce", "Henry", "Virginia", "Zachary",
    "Victoria", "Douglas", "Kelly", "Peter", "Lauren", "Kyle", "Christina", "Noel", "Joan",
    "Walter", "Evelyn", "Harold", "Judith", "Keith", "Megan", "Christian", "Andrea", "Roger",
    "Cheryl", "Terry", "Hazel", "Gerald", "Abigail", "Sophia", "Isaac", "Chelsea", "Theodore",
    "Madison", "Philip", "Alice", "Lawrence", "Natalie", "Harry", "Ella", "Alfie", "Poppy",
    "Callum", "Eilidh", "Connor", "Niamh", "Declan", "Aoife", "Cian", "Ciara",
    # German-, Dutch- and Scandinavian-speaking
    "Maximilian", "Leonie", "Jonas", "Marie", "Paul-Henri", "Johanna", "Tobias", "Katharina",
    "Florian", "Anja", "Stefan", "Sabine", "Matthias", "Ursula", "Jürgen", "Claudia", "Wolfgang",
    "Petra", "Klaus", "Monika", "Daan", "Sanne", "Bram", "Fleur", "Jeroen", "Lotte", "Pieter",
    "Anouk", "Erik", "Karin", "Nils", "Elin", "Magnus", "Sigrid", "Anders", "Maja", "Henrik",
    "Linnea", "Oskar", "Saga",
    # French, Spanish, Portuguese and Italian
    "Antoine", "Margaux", "Julien", "Élodie", "Mathieu", "Céline", "Nicolas", "Aurélie", "Théo",
    "Manon", "Alejandro", "Sofía", "Carlos", "Isabel", "Miguel", "Elena", "Fernando", "Paula",
    "Andrés", "Daniela", "Gonzalo", "Marta", "Luis", "Rocío", "Pedro", "Mariana", "Tiago",
    "Gabriela", "Rodrigo", "Larissa", "Bruno", "Camila", "Gustavo", "Fernanda", "Marco",
    "Giulia", "Luca", "Francesca", "Matteo", "Chiara", "Alessandro", "Federica", "Giovanni",
    "Sara",
    # South Asian
    "Aditya", "Kavya", "Rohan", "Divya", "Sanjay", "Lakshmi", "Suresh", "Meera", "Karthik",
    "Sneha", "Ravi", "Anjali", "Manoj", "Deepa", "Nikhil", "Shreya", "Harish", "Swati", "Imran",
    "Sana",
    # East and South-East Asian
    "Hao", "Xin", "Yang", "Ying", "Lei", "Jing", "Chen", "Hui", "Takeshi", "Haruka", "Daiki",
    "Aoi", "Ren", "Hina", "Seo-yeon", "Ji-ho", "Hyun", "Minh", "Linh", "Thanh", "Huong",
    "Wei Ling", "Jia Hui", "Kai",
    # Middle East, Africa, Eastern Europe
    "Mohammed", "Mariam", "Hassan", "Noor", "Ali", "Zainab", "Karim", "Leila", "Tariq",
    "Yasmin", "Emre", "Elif", "Chinedu", "Ngozi", "Oluwaseun", "Adaeze", "Kofi", "Akosua",
    "Sipho", "Nomvula", "Tendai", "Wanjiru", "Baraka", "Amani", "Pieter-Jan", "Aleksandr",
    "Natalia", "Sergei", "Ekaterina", "Andrei", "Irina", "Piotr", "Agnieszka", "Tomasz",
    "Katarzyna", "Jakub", "Zuzana", "Ondřej", "Petr", "Lucie",
)  # fmt: skip

# Real surnames, roughly most frequent first; the first 120 were the generator's whole list.
_REAL_SURNAMES: Final[tuple[str, ...]] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker",
    "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans",
    "Turner", "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Cook", "Rogers",
    "O'Brien", "Kelly", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner",
    "Becker", "Dubois", "Moreau", "Laurent", "Lefèvre", "García", "Martínez", "Rodríguez",
    "López", "González", "Fernández", "Núñez", "Silva", "Santos", "Oliveira", "Costa", "Patel",
    "Sharma", "Singh", "Gupta", "Kumar", "Iyer", "Reddy", "Wang", "Zhang", "Chen", "Liu", "Huang",
    "Tanaka", "Suzuki", "Sato", "Kim", "Park", "Nguyen", "Tran", "Khan", "Ali", "Hassan",
    "Mensah", "Okafor", "Dlamini", "Nkosi", "Johansson", "Andersson", "Nilsson", "Larsen",
    "Hansen", "de Vries", "van Dijk", "Jansen", "Rossi", "Russo", "Bianchi", "Ivanov", "Petrov",
    "Novak", "Kowalski", "Nowak", "Cohen", "Levi",
    # English-speaking countries
    "Ward", "Cox", "Richardson", "Wood", "Watson", "Brooks", "Bennett", "Gray", "James", "Hughes",
    "Price", "Myers", "Long", "Foster", "Sanders", "Ross", "Powell", "Sullivan", "Russell",
    "Jenkins", "Perry", "Butler", "Barnes", "Fisher", "Henderson", "Coleman", "Simmons",
    "Patterson", "Jordan", "Reynolds", "Hamilton", "Graham", "Wallace", "Cole", "West", "Owens",
    "Marshall", "Ellis", "Fox", "Rose", "Stone", "Hunt", "Palmer", "Black", "Mills", "Warren",
    "Dixon", "Knight", "Ford", "Grant", "Hayes", "Lane", "Gibson", "Mason", "Hart", "Ryan",
    "Gordon", "Ferguson", "Webb", "Kennedy", "Burns", "Hudson", "Crawford", "Boyd", "Porter",
    "Harper", "Spencer", "Tucker", "Hunter", "Holmes", "Andrews", "Wells", "Duncan", "Pearson",
    "Chapman", "Bailey", "Howard", "Morgan", "Cooper", "Peterson", "Washington", "Bryant",
    "Alexander", "Griffin", "Hayward", "Lawson", "Fletcher", "Barker", "Sutton", "Lloyd",
    "O'Connor", "O'Neill", "O'Sullivan", "McCarthy", "Byrne", "Walsh", "Doyle", "O'Reilly",
    "Lynch", "Quinn", "Brennan", "Fitzgerald", "MacDonald", "MacLeod", "McKenzie", "Fraser",
    "Murray", "Reid", "Robertson", "Sinclair", "Cameron", "McGregor", "Docherty", "Gallagher",
    "Flynn", "Kavanagh",
    # German, Dutch, Scandinavian
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt",
    "Werner", "Krause", "Meier", "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann",
    "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller",
    "Weiß", "Jung", "Hahn", "Vogel", "de Jong", "Jansen", "de Boer", "Bakker", "Visser", "Smit",
    "Meijer", "de Graaf", "Mulder", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
    "Brouwer", "de Wit", "Dijkstra", "Karlsson", "Eriksson", "Larsson", "Olsson", "Persson",
    "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jensen", "Nielsen", "Pedersen",
    "Andersen", "Christensen", "Rasmussen", "Johansen", "Berg", "Haugen", "Hagen",
    # French, Spanish, Portuguese, Italian
    "Bernard", "Petit", "Durand", "Leroy", "Simon", "Michel", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet",
    "François", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin", "Henry", "Roussel",
    "Perrin", "Morin", "Mathieu", "Clément", "Gauthier", "Dumont", "Fontaine", "Chevalier",
    "Robin", "Hernández", "Pérez", "Sánchez", "Ramírez", "Torres", "Flores", "Rivera", "Gómez",
    "Díaz", "Cruz", "Morales", "Ortiz", "Gutiérrez", "Chávez", "Ramos", "Ruiz", "Álvarez",
    "Mendoza", "Castillo", "Jiménez", "Moreno", "Romero", "Herrera", "Medina", "Aguilar",
    "Vargas", "Castro", "Guzmán", "Navarro", "Domínguez", "Vázquez", "Ramos", "Gil", "Serrano",
    "Molina", "Blanco", "Suárez", "Ortega", "Delgado", "de la Cruz", "del Río", "Fernandes",
    "Pereira", "Almeida", "Ribeiro", "Carvalho", "Gomes", "Martins", "Araújo", "Rocha", "Lima",
    "Barbosa", "Sousa", "Alves", "Cardoso", "Teixeira", "Correia", "Mendes", "Nunes", "Soares",
    "Vieira", "Monteiro", "Moura", "Cavalcanti", "Dias", "Campos", "Ferrari", "Esposito",
    "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca",
    "Mancini", "Giordano", "Rizzo", "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro",
    "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo", "Gentile",
    "Martinelli", "Vitale", "Serra", "Coppola", "De Santis", "D'Angelo", "Marchetti",
    # South Asian
    "Agarwal", "Bansal", "Bhat", "Chopra", "Desai", "Goyal", "Jain", "Joshi", "Kapoor", "Khanna",
    "Malhotra", "Mehta", "Mishra", "Nair", "Pandey", "Pillai", "Rao", "Saxena", "Shah", "Shetty",
    "Sinha", "Srivastava", "Trivedi", "Verma", "Yadav", "Chatterjee", "Banerjee", "Mukherjee",
    "Das", "Bose", "Ghosh", "Sen", "Dutta", "Menon", "Naidu", "Kulkarni", "Deshpande", "Patil",
    "Chauhan", "Rathore", "Thakur", "Tiwari", "Dubey", "Bhatt", "Krishnan", "Subramanian",
    "Raman", "Venkatesh", "Chandra", "Arora", "Sethi", "Bhatia", "Ahuja", "Grover", "Anand",
    "Kohli", "Dhillon", "Gill", "Sandhu", "Sidhu", "Grewal", "Qureshi", "Siddiqui", "Chaudhry",
    "Malik", "Sheikh", "Rashid",
    # East and South-East Asian
    "Li", "Yang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin",
    "Gao", "Luo", "Zheng", "Liang", "Xie", "Song", "Tang", "Han", "Feng", "Deng", "Cao", "Peng",
    "Zeng", "Xiao", "Tian", "Dong", "Pan", "Yuan", "Cai", "Jiang", "Yu", "Du", "Ye", "Cheng",
    "Wei", "Su", "Lu", "Ding", "Ren", "Shen", "Yao", "Fan", "Fang", "Shi", "Tan", "Liao", "Zou",
    "Xiong", "Jin", "Qiu", "Hou", "Bai", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim",
    "Oh", "Seo", "Shin", "Kwon", "Hwang", "Ahn", "Yoo", "Hong", "Le", "Pham", "Hoang", "Phan",
    "Vu", "Dang", "Bui", "Do", "Ho", "Ngo", "Duong", "Ly", "Watanabe", "Ito", "Kobayashi", "Kato",
    "Yoshida", "Sasaki", "Yamaguchi", "Saito", "Inoue", "Hayashi", "Shimizu", "Mori", "Abe",
    "Ikeda", "Ishikawa", "Ogawa", "Goto", "Okada", "Hasegawa", "Murakami", "Kondo", "Sakamoto",
    "Endo", "Aoki", "Fujii", "Nishimura", "Fukuda", "Ota", "Miura", "Okamoto", "Matsuda",
    "Nakagawa", "Harada", "Ono", "Tamura", "Takeuchi", "Kaneko", "Wada", "Ueda", "Morita",
    "Hara", "Shibata", "Sakai", "Kudo", "Yokoyama", "Miyazaki", "Miyamoto", "Uchida",
    # Middle East, Africa, Eastern Europe
    "Ahmed", "Hussein", "Ibrahim", "Mahmoud", "Mustafa", "Abdullah", "Rahman", "Saleh",
    "Haddad", "Khalil", "Nasser", "Farah", "Aziz", "Karim", "Mansour", "Yilmaz", "Kaya", "Demir",
    "Şahin", "Çelik", "Yıldız", "Öztürk", "Aydın", "Arslan", "Osei", "Boateng", "Asante",
    "Owusu", "Adeyemi", "Okonkwo", "Eze", "Nwosu", "Adebayo", "Balogun", "Abubakar", "Mohammed",
    "Ndlovu", "Khumalo", "Mokoena", "Mthembu", "Zulu", "Naidoo", "van der Merwe", "Botha",
    "Pretorius", "Kamau", "Mwangi", "Otieno", "Kariuki", "Banda", "Phiri", "Tembo", "Smirnov",
    "Kuznetsov", "Popov", "Vasiliev", "Sokolov", "Mikhailov", "Fedorov", "Morozov", "Volkov",
    "Alekseev", "Lebedev", "Semenov", "Egorov", "Pavlov", "Kozlov", "Stepanov", "Nikolaev",
    "Orlov", "Andreev", "Makarov", "Zakharov", "Wiśniewski", "Wójcik", "Kamiński",
    "Lewandowski", "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski",
    "Mazur", "Krawczyk", "Piotrowski", "Grabowski", "Pawłowski", "Michalski", "Svoboda",
    "Dvořák", "Černý", "Procházka", "Kučera", "Horváth", "Nagy", "Tóth", "Szabó", "Popescu",
    "Ionescu", "Popa", "Shevchenko", "Bondarenko", "Kovalenko", "Tkachenko", "Friedman",
    "Katz", "Mizrahi", "Peretz", "Biton", "Dahan", "Avraham", "Friedmann",
)  # fmt: skip

# Parts of surnames per naming culture: (prefixes, suffixes, join). Composed in full (every
# prefix with every suffix), deduplicated against the real names, shuffled with a fixed seed.
_COMPOSED: Final[tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...]] = (
    (("Ash", "Black", "Brad", "Bram", "Brook", "Bur", "Cal", "Craw", "Dun", "Fair", "Glad",
      "Hal", "Hart", "Haw", "Hol", "Kings", "Lang", "Mar", "Mid", "New", "Nor", "Oak", "Pem",
      "Rad", "Red", "Ross", "Rut", "Shel", "Stan", "Sut", "Thorn", "War", "Wat", "Wes", "Whit",
      "Win", "Wood", "Bright", "Cran", "Ather", "Bel", "Brent", "Chad", "Cotter", "Elling",
      "Hamp", "Lock", "Mere", "Pen", "Sel"),
     ("ford", "ley", "ton", "wood", "field", "well", "by", "ham", "worth", "more", "land",
      "ridge", "stone", "dale", "brook", "wick", "hurst", "combe", "den", "shaw"), ""),
    (("Berg", "Hoff", "Kauf", "Lind", "Rosen", "Stein", "Wein", "Eich", "Hart", "Klein", "Gross",
      "Neu", "Alt", "Brand", "Fried", "Gold", "Hell", "Kirch", "Mohr", "Oster", "Schwarz",
      "Weiss", "Lieb", "Sonn", "Zimmer", "Ehr", "Feld", "Horn", "Keller", "Lang"),
     ("mann", "berg", "er", "feld", "thal", "stein", "bach", "hardt", "meier", "huber", "wald",
      "hofer", "burg", "dorf", "inger"), ""),
    (("Berg", "Lind", "Sjö", "Holm", "Ek", "Nord", "Sund", "Ström", "Dahl", "Ny", "Fors", "Hed",
      "Lund", "Ås", "Gran", "Wall", "Bäck", "Sand", "Björk", "Hag"),
     ("ström", "qvist", "gren", "berg", "lund", "blad", "dahl", "man", "holm", "by"), ""),
    (("van den", "van der", "de", "van"),
     ("Berg", "Broek", "Heuvel", "Velde", "Meer", "Wal", "Linden", "Bosch", "Dijk", "Vliet",
      "Leeuwen", "Graaf", "Haan", "Jong", "Bruijn", "Wit", "Groot", "Beek", "Kamp", "Hoek",
      "Pol", "Laan", "Brink", "Zanden", "Ven"), " "),
    (("Yama", "Ta", "Naka", "Ki", "Matsu", "Ino", "Hashi", "Ishi", "Kawa", "Mori", "Taka",
      "Fuji", "Kobaya", "Ike", "Hira", "Oka", "Mae", "Kane", "Shima", "Ara", "Sugi", "Kita",
      "Nishi", "Higa", "Miya", "Tsuchi", "Uchi", "Saka", "Tani", "Hama"),
     ("moto", "da", "mura", "ta", "shita", "kawa", "guchi", "no", "saki", "hara", "uchi",
      "be", "zaki", "gawa", "yama", "naka", "oka", "shima", "ki", "hashi"), ""),
    (("Ivan", "Petr", "Smirn", "Kuznets", "Vasil", "Sokol", "Mikhail", "Fedor", "Moroz",
      "Volk", "Lebed", "Semen", "Egor", "Pavl", "Kozl", "Stepan", "Nikol", "Orl", "Makar",
      "Zakhar", "Zaits", "Solov", "Boris", "Yakovl", "Grigor", "Roman", "Vorob", "Belous",
      "Gusev", "Titov"),
     ("ov", "in", "enko"), ""),
    (("Kowal", "Wiśniew", "Kamiń", "Lewandow", "Zieliń", "Szymań", "Dąbrow", "Kozłow",
      "Jankow", "Piotrow", "Grabow", "Pawłow", "Michal", "Zając", "Król", "Wieczor", "Jabłoń",
      "Majew", "Olszew", "Jaworski", "Malinow", "Górski", "Rutkow", "Sikor", "Baran"),
     ("ski", "czyk", "ewicz"), ""),
    (("Oko", "Ade", "Olu", "Chi", "Nwa", "Oba", "Ife", "Aki", "Eme", "Ogu"),
     ("nkwo", "bayo", "wale", "ike", "chukwu", "femi", "tunde", "nna", "yemi", "kanmi"), ""),
    (("Hernán", "Rodrí", "Domín", "Fernán", "Gonzá", "Martí", "Sánch", "Ramír", "Velázqu",
      "Márqu"),
     ("dez", "guez", "ez"), ""),
)  # fmt: skip

# Nicknames the re-entries use for the vocabulary's formal names. Apart from the matcher's table
# on purpose: the matcher must know them (on real data its coverage decides the recall).
NICKNAMES: Final[dict[str, tuple[str, ...]]] = {
    "James": ("Jim", "Jimmy", "Jamie"), "Mary": ("Molly",), "John": ("Jack", "Johnny", "Jon"),
    "Patricia": ("Pat", "Patty", "Trish"), "Robert": ("Bob", "Rob", "Bobby", "Robbie"),
    "Jennifer": ("Jen", "Jenny"), "Michael": ("Mike", "Mick"), "David": ("Dave",),
    "Elizabeth": ("Liz", "Beth", "Betty", "Lizzie"), "William": ("Bill", "Will", "Billy"),
    "Barbara": ("Barb",), "Richard": ("Rick", "Rich", "Dick"), "Susan": ("Sue", "Suzy"),
    "Joseph": ("Joe", "Joey"), "Jessica": ("Jess", "Jessie"), "Thomas": ("Tom", "Tommy"),
    "Sarah": ("Sally",), "Charles": ("Charlie", "Chuck"), "Daniel": ("Dan", "Danny"),
    "Nancy": ("Nan",), "Matthew": ("Matt",), "Anthony": ("Tony",), "Emily": ("Emmy",),
    "Anna": ("Annie", "Ann"), "Steven": ("Steve",), "Andrew": ("Andy", "Drew"),
    "Olivia": ("Liv",), "Joshua": ("Josh",), "Kevin": ("Kev",), "Rachel": ("Rach",),
    "Julia": ("Jules",), "Oliver": ("Ollie",), "Charlotte": ("Lottie", "Charlie"),
    "Laura": ("Laurie",), "Dmitri": ("Dima",), "Tatiana": ("Tanya",), "Javier": ("Javi",),
    "Rafael": ("Rafa",), "Sophie": ("Sophia",), "Christopher": ("Chris", "Kit"),
    "Margaret": ("Maggie", "Meg", "Peggy"), "Donald": ("Don",), "Kenneth": ("Ken", "Kenny"),
    "Edward": ("Ed", "Eddie", "Ted"), "Timothy": ("Tim",), "Deborah": ("Deb", "Debbie"),
    "Rebecca": ("Becky", "Becca"), "Nicholas": ("Nick", "Nicky"), "Benjamin": ("Ben", "Benny"),
    "Samantha": ("Sam",), "Samuel": ("Sam", "Sammy"), "Katherine": ("Kate", "Katie", "Kathy"),
    "Gregory": ("Greg",), "Alexander": ("Alex", "Alec"), "Patrick": ("Pat", "Paddy"),
    "Zachary": ("Zach",), "Victoria": ("Vicky", "Tori"), "Peter": ("Pete",),
    "Abigail": ("Abby",), "Theodore": ("Theo", "Ted"), "Philip": ("Phil",),
    "Lawrence": ("Larry",), "Isabella": ("Bella", "Izzy"), "Kimberly": ("Kim",),
    "Nathan": ("Nate",), "Ronald": ("Ron",),
}  # fmt: skip


def _zipf(n: int, a: float) -> NDArray[np.float64]:
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** a
    out: NDArray[np.float64] = w / w.sum()
    return out


@lru_cache(maxsize=1)
def surnames() -> tuple[str, ...]:
    """Real surnames (head, in order), then composed ones (tail, in a fixed shuffled order)."""
    real = tuple(dict.fromkeys(_REAL_SURNAMES))
    seen = {s.lower() for s in real}
    composed: list[str] = []
    for prefixes, suffixes, join in _COMPOSED:
        for pre in prefixes:
            for suf in suffixes:
                name = f"{pre}{join}{suf}"
                if name.lower() not in seen:
                    seen.add(name.lower())
                    composed.append(name)
    order = np.random.default_rng(20240614).permutation(len(composed))
    return real + tuple(composed[i] for i in order)


@lru_cache(maxsize=1)
def first_name_weights() -> NDArray[np.float64]:
    return _zipf(len(FIRST_NAMES), FIRST_NAME_ZIPF)


@lru_cache(maxsize=1)
def surname_weights() -> NDArray[np.float64]:
    return _zipf(len(surnames()), SURNAME_ZIPF)
